// SwiftPM needs a source file for a C target; the function itself is libFuzzer's.
#include "CLibFuzzer.h"
