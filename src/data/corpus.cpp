#include "sturdy/data/corpus.h"
