#include "sturdy/text/tokenizer.h"
