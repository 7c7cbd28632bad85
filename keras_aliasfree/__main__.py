import sys

from keras_aliasfree.cli import main

sys.exit(main())
