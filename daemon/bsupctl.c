#include <stdio.h>
int main(void)
{
    puts("bsupctl " BSUP_VERSION);
    return 0;
}
