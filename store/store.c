int bsup_store_placeholder(void);
int bsup_store_placeholder(void)
{
    return 0;
}
