#include <stdio.h>
int main(void)
{
    puts("bsupd " BSUP_VERSION);
    return 0;
}
