import sys

from devstack.asyncapi.command import main

sys.exit(main())
