/* Test plugin: a shared object that exports no descriptor. */
int no_descriptor_something(void);

int
no_descriptor_something(void)
{
    return 42;
}
