/* User and group ids named in a configuration (base/sys_ids.h): numbers
 * within range, names from the system's databases, and nothing else. */
#include "autoconf.h"

#include "test.h"

#include "base/sys_ids.h"

TEST(numbers_within_range)
{
    uid_t u = 1;
    gid_t g = 1;
    ASSERT_INT_EQ(vpd_user_id("0", &u), 0);
    ASSERT_INT_EQ(u, 0);
    ASSERT_INT_EQ(vpd_user_id("4343", &u), 0);
    ASSERT_INT_EQ(u, 4343);
    ASSERT_INT_EQ(vpd_group_id("4242", &g), 0);
    ASSERT_INT_EQ(g, 4242);
    ASSERT_INT_EQ(vpd_user_id("4294967294", &u), 0);
    ASSERT(u == (uid_t)4294967294u);
}

/* The all-ones value is chown's "leave unchanged", and a larger number
 * must not wrap around (4294967296 would become 0, root). */
TEST(numbers_out_of_range_are_refused)
{
    static const char *const bad[] = {"4294967295", "4294967296",
                                      "99999999999999999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uid_t u = 7;
        gid_t g = 7;
        ASSERT_INT_EQ(vpd_user_id(bad[i], &u), -1);
        ASSERT_INT_EQ(vpd_group_id(bad[i], &g), -1);
        ASSERT_INT_EQ(u, 7);
        ASSERT_INT_EQ(g, 7);
    }
}

TEST(names_from_the_databases)
{
    uid_t u = 1;
    gid_t g = 1;
    ASSERT_INT_EQ(vpd_user_id("root", &u), 0);
    ASSERT_INT_EQ(u, 0);
    ASSERT_INT_EQ(vpd_group_id("root", &g), 0);
    ASSERT_INT_EQ(g, 0);
    ASSERT_INT_EQ(vpd_user_id("no-such-user-vaproxy", &u), -1);
    ASSERT_INT_EQ(vpd_group_id("no-such-group-vaproxy", &g), -1);
}

/* What strtoul would take but is no id: signs, blanks, trailing text. */
TEST(almost_numbers_are_names_and_unknown)
{
    static const char *const bad[] = {"", "-1", "+5", " 5", "5 ", "5x"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uid_t u = 7;
        ASSERT_INT_EQ(vpd_user_id(bad[i], &u), -1);
        ASSERT_INT_EQ(u, 7);
    }
}

int
main(void)
{
    return RUN_TESTS(
        T(numbers_within_range), T(numbers_out_of_range_are_refused),
        T(names_from_the_databases), T(almost_numbers_are_names_and_unknown));
}
