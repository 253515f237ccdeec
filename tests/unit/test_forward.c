#include "test.h"
TEST(placeholder) { ASSERT(1); }
int main(void) { return RUN_TESTS(T(placeholder)); }
