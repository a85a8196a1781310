"""Interpretable cells: one hidden unit's activation over a text, drawn as coloured characters.

Karpathy, Johnson & Fei-Fei, "Visualizing and Understanding Recurrent Networks" (ICLR 2016 workshop): some units
of a char-RNN track quotes, line length or indentation; colouring each character by the unit's value after reading it
shows which.

    from kerazoo.sequence.neurons import unit_activations, write_unit_html
    values = unit_activations("runs/char_lstm", "The cat sat.", unit=7)        # (T,) in [-1, 1] for tanh units
    write_unit_html("runs/char_lstm", "The cat sat.", unit=7, out="cell.html")
"""

from __future__ import annotations

import html

import keras
import numpy as np

from kerazoo.io import atomic_write_text
from kerazoo.sequence.charrnn import load_char_run, zero_states

__all__ = ["unit_activations", "unit_html", "write_unit_html"]


def _recurrent_layer_names(model: keras.Model) -> list[str]:
    return [layer.name for layer in model.layers if layer.name.startswith("rnn") and hasattr(layer, "cell")]


def unit_activations(run_dir: str, text: str, *, unit: int, layer: int | None = None) -> np.ndarray:
    """The hidden state ``h_t[unit]`` of recurrent layer ``layer`` (1-based; default the last) after each character
    of ``text``, starting from the zero state."""
    model, vocab, _ = load_char_run(run_dir)
    names = _recurrent_layer_names(model)
    layer = len(names) if layer is None else layer
    if not isinstance(layer, int) or not 1 <= layer <= len(names):
        raise ValueError(f"Invalid layer: expected an integer in [1, {len(names)}]. Received: layer={layer!r}")
    hidden = model.get_layer(names[layer - 1]).output[0]  # (B, T, units): the layer's hidden state at every step
    units = int(hidden.shape[-1])
    if not isinstance(unit, int) or not 0 <= unit < units:
        raise ValueError(f"Invalid unit: expected an integer in [0, {units - 1}]. Received: unit={unit!r}")
    if not text:
        raise ValueError("Invalid text: expected at least one character. Received: text=''")
    probe = keras.Model(model.inputs, hidden, name="hidden_probe")
    ids = keras.ops.convert_to_tensor(vocab.encode(text)[None, :], dtype="int32")
    values = probe([ids, *zero_states(model, 1)], training=False)
    return keras.ops.convert_to_numpy(values)[0, :, unit]


def _colour(value: float, scale: float) -> str:
    """Blue for negative, red for positive, white near zero (the paper's colouring)."""
    v = float(np.clip(value / scale, -1.0, 1.0))
    fade = int(255 * (1.0 - abs(v)))
    return f"rgb(255,{fade},{fade})" if v > 0 else f"rgb({fade},{fade},255)"


def unit_html(text: str, values: np.ndarray, *, title: str = "") -> str:
    """An HTML page with each character of ``text`` on a background coloured by ``values`` (one per character)."""
    values = np.asarray(values, dtype="float64")
    if values.shape != (len(text),):
        raise ValueError(f"Expected one value per character: text has {len(text)}, values have shape {values.shape}.")
    scale = max(float(np.abs(values).max()), 1e-6)
    spans = []
    for char, value in zip(text, values):
        shown = "<br>\n" if char == "\n" else html.escape(char).replace(" ", "&nbsp;")
        spans.append(f'<span title="{value:+.3f}" style="background:{_colour(value, scale)}">{shown}</span>')
    return (
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{t}</title></head>\n"
        "<body style=\"font-family:monospace;font-size:14px;line-height:1.5\">\n<h3>{t}</h3>\n"
        "<p>red: positive, blue: negative (scale {s:.3f}); hover a character for its value</p>\n<div>{body}</div>\n"
        "</body></html>\n"
    ).format(t=html.escape(title), s=scale, body="".join(spans))


def write_unit_html(run_dir: str, text: str, *, unit: int, out: str, layer: int | None = None) -> np.ndarray:
    """Write the HTML view of one unit over ``text`` to ``out`` (atomically); returns the activations."""
    values = unit_activations(run_dir, text, unit=unit, layer=layer)
    title = f"unit {unit} of layer {layer or 'last'} over {len(text)} characters"
    atomic_write_text(out, unit_html(text, values, title=title))
    return values
