import sys

from cdpkit.cli import main

sys.exit(main())
