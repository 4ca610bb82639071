// Error messages handed from C to Go.
#include "codec.h"

static char oom[] = "out of memory";

char *fc_errdup(const char *msg) {
    char *s = strdup(msg[0] ? msg : "unknown error");
    return s ? s : oom;
}

void fc_errfree(char *msg) {
    if (msg != oom)
        free(msg);
}
