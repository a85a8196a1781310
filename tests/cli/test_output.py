"""What the command prints besides results: TensorFlow's known start-up lines go, anything else stays."""

import logging

from kerazoo.cli import output

START_UP = """WARNING: All log messages before absl::InitializeLog() is called are written to STDERR
I0000 00:00:1796611903.489362    8390 port.cc:153] oneDNN custom operations are on. You may see slightly different numerical results.
I0000 00:00:1796611903.489820    8390 cudart_stub.cc:31] Could not find cuda drivers on your machine, GPU will not be used.
I0000 00:00:1796611903.551862    8390 cpu_feature_guard.cc:227] This TensorFlow binary is optimized to use available CPU instructions.
To enable the following instructions: AVX2 AVX512F FMA, in other operations, rebuild TensorFlow with the appropriate compiler flags.
"""


def test_known_start_up_lines_are_filtered_and_others_kept():
    assert output.filter_noise(START_UP) == ""
    other = "E0000 00:00:1796611903.5 8390 some_op.cc:12] a real failure\nUserWarning: something new\n"
    assert output.filter_noise(START_UP + other) == other


def test_stage_lines_follow_the_verbosity(capsys):
    output.configure(output.NORMAL)
    output.stage("converting to TFLite")
    logging.getLogger("kerazoo.export.exporter").info("checking tflite")  # a library module's stage line
    assert capsys.readouterr().err == "kerazoo: converting to TFLite\nkerazoo: checking tflite\n"
    try:
        output.configure(output.QUIET)
        output.stage("converting to TFLite")
        assert capsys.readouterr().err == ""
    finally:
        output.configure(output.NORMAL)
        logging.getLogger().setLevel(logging.WARNING)
