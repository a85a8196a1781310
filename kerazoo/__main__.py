import sys

from kerazoo.cli import main

sys.exit(main())
