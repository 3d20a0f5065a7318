/* test_version.c — ag_version() and the AG_VERSION_* macros come from the one
 * CMake project version (the CLI's --version is checked by a ctest of its
 * own). */
#include "testutil.h"

#include <stdio.h>
#include <string.h>

static void test_version_matches_the_macros(void **state)
{
    (void)state;
    char want[32];
    snprintf(want, sizeof want, "%d.%d.%d", AG_VERSION_MAJOR, AG_VERSION_MINOR, AG_VERSION_PATCH);
    assert_string_equal(ag_version(), want);
    assert_string_equal(AG_VERSION_STRING, want);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_version_matches_the_macros)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
