import sys

from glm_proxy.cli import main

sys.exit(main())
