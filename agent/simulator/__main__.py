"""Run the aerender simulator: `python -m agent.simulator ARGS`."""

import sys

from agent.simulator.main import main

sys.exit(main())
