import sys

from makespan.cli import main

sys.exit(main())
