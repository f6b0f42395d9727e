"""`python -m adambnn_tf` runs the `adambnn` command."""

import sys

from adambnn_tf.cli import main

sys.exit(main())
