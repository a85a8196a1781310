"""kerazoo.generative: PixelCNN, PixelRNN, autoencoders, VAE and DCGAN, with their likelihoods and sample quality.

Importing the package registers its models in the zoo registry (task "generative") and the ``generative`` training
task, so ``kerazoo train vae ...`` runs under the one training service. The registry imports it on first lookup.

    from kerazoo.applications import create_model
    vae = create_model("vae", input_shape=(28, 28, 1), latent_dim=16)
    images = kerazoo.generative.generate("runs/vae", n=64, out="samples.png")
"""

from kerazoo.generative.autoencoder import Autoencoder, encoder_of, probe_accuracy
from kerazoo.generative.common import image_grid, interpolate_latents, save_image_grid
from kerazoo.generative.metrics import frechet_distance, sample_quality
from kerazoo.generative.gan import DCGAN, GenerativeAdversarialNetwork, latent_arithmetic
from kerazoo.generative.pixelcnn import PixelCNN, sample_autoregressive
from kerazoo.generative.pixelrnn import PixelRNN, RowLSTM
from kerazoo.generative.task import GenerativeTask, SampleGrid, generate, load_generative_run
from kerazoo.generative.vae import VAE, VariationalAutoencoder, latent_manifold

__all__ = [
    "Autoencoder", "encoder_of", "probe_accuracy", "image_grid", "interpolate_latents", "save_image_grid", "DCGAN",
    "GenerativeAdversarialNetwork", "latent_arithmetic", "PixelCNN", "sample_autoregressive", "PixelRNN", "RowLSTM",
    "GenerativeTask", "SampleGrid", "generate", "load_generative_run", "VAE", "VariationalAutoencoder",
    "latent_manifold", "frechet_distance", "sample_quality",
]
