"""``python -m gui [--models DIR] [FILES...]``"""

import sys

from .app import main

sys.exit(main())
