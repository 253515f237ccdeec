/* Positions in a template's source: line and column counting, and the
 * "name:line:col: message" form every stage of the template language
 * reports errors in, cut to the caller's buffer. */
#include "autoconf.h"

#include "test.h"

#include "agent/tmpl_pos.h"

static void msg_at(char *err, size_t errlen, const char *name, const char *src,
                   size_t off, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

static void
msg_at(char *err, size_t errlen, const char *name, const char *src, size_t off,
       const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vpd_tmpl_vmsg_at(err, errlen, name, src, off, fmt, ap);
    va_end(ap);
}

TEST(lines_and_columns_count_from_one)
{
    const char *src = "ab\ncd\n\nef";
    int line, col;
    vpd_tmpl_line_col(src, 0, &line, &col);
    ASSERT_INT_EQ(line, 1);
    ASSERT_INT_EQ(col, 1);
    vpd_tmpl_line_col(src, 2, &line, &col); /* the newline itself */
    ASSERT_INT_EQ(line, 1);
    ASSERT_INT_EQ(col, 3);
    vpd_tmpl_line_col(src, 4, &line, &col);
    ASSERT_INT_EQ(line, 2);
    ASSERT_INT_EQ(col, 2);
    vpd_tmpl_line_col(src, 8, &line, &col);
    ASSERT_INT_EQ(line, 4);
    ASSERT_INT_EQ(col, 2);
}

TEST(message_names_file_line_and_column)
{
    char err[128];
    msg_at(err, sizeof err, "t.tmpl", "{{ a }}\n{{ b", 11, "unexpected %s",
           "EOF");
    ASSERT_STR_EQ(err, "t.tmpl:2:4: unexpected EOF");
}

TEST(a_short_buffer_keeps_the_position_and_stays_terminated)
{
    char err[16];
    memset(err, 'x', sizeof err);
    msg_at(err, sizeof err, "t.tmpl", "abc", 1, "a long message: %d", 42);
    ASSERT_STR_EQ(err, "t.tmpl:1:2: a l");
    /* A name longer than the buffer: cut, still a string. */
    msg_at(err, 8, "a-very-long-name.tmpl", "abc", 1, "lost");
    ASSERT_STR_EQ(err, "a-very-");
}

int
main(void)
{
    return RUN_TESTS(T(lines_and_columns_count_from_one),
                     T(message_names_file_line_and_column),
                     T(a_short_buffer_keeps_the_position_and_stays_terminated));
}
