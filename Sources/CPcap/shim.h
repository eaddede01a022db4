#include <pcap/pcap.h>
#include <stdio.h>
#include <sys/types.h>

/* glibc's fopencookie (a FILE whose reads call a function), so libpcap can read a stream whose
   first bytes were already taken to tell its format. Swift's Glibc module is built without
   _GNU_SOURCE, so it is declared here with a struct of the same layout as cookie_io_functions_t. */
typedef struct {
    ssize_t (*read)(void *cookie, char *buffer, size_t size);
    ssize_t (*write)(void *cookie, const char *buffer, size_t size);
    int (*seek)(void *cookie, long long *offset, int whence);
    int (*close)(void *cookie);
} imapscope_cookie_io_functions;

extern FILE *fopencookie(void *cookie, const char *mode, imapscope_cookie_io_functions functions);
