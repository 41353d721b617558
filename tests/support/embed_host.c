/* A minimal embedding host, the kind the seed thread worries about (PEP 513):
 * it dlopen()s libpython itself instead of linking it, then runs Python code.
 *
 *   embed_host LIBPYTHON MODE CODE
 *
 * MODE is how libpython is opened:
 *   global   dlopen(LIBPYTHON, RTLD_NOW | RTLD_GLOBAL)
 *   local    dlopen(LIBPYTHON, RTLD_NOW | RTLD_LOCAL)
 *   promote  RTLD_LOCAL first, then dlopen(LIBPYTHON, RTLD_NOW | RTLD_NOLOAD | RTLD_GLOBAL),
 *            the fix a host author can apply without reopening anything.
 *
 * Every Python entry point is looked up with dlsym, so the host needs no Python headers
 * and does not link libpython: only the mode above decides whether an extension module
 * without a libpython DT_NEEDED finds the interpreter's symbols.
 * Exit status: 0 when CODE ran without an exception, 1 when it raised, 2 on host errors.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

typedef void (*init_fn)(int);
typedef int (*run_fn)(const char *);
typedef int (*fini_fn)(void);

static void *need(void *lib, const char *name) {
    void *sym = dlsym(lib, name);
    if (!sym) fprintf(stderr, "embed_host: %s\n", dlerror());
    return sym;
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: %s LIBPYTHON global|local|promote CODE\n", argv[0]);
        return 2;
    }
    const char *path = argv[1], *mode = argv[2], *code = argv[3];
    int flags = RTLD_NOW;
    if (strcmp(mode, "global") == 0) {
        flags |= RTLD_GLOBAL;
    } else if (strcmp(mode, "local") == 0 || strcmp(mode, "promote") == 0) {
        flags |= RTLD_LOCAL;
    } else {
        fprintf(stderr, "embed_host: unknown mode %s\n", mode);
        return 2;
    }
    void *lib = dlopen(path, flags);
    if (!lib) {
        fprintf(stderr, "embed_host: %s\n", dlerror());
        return 2;
    }
    if (strcmp(mode, "promote") == 0 && !dlopen(path, RTLD_NOW | RTLD_NOLOAD | RTLD_GLOBAL)) {
        fprintf(stderr, "embed_host: promotion failed: %s\n", dlerror());
        return 2;
    }
    init_fn initialize = (init_fn)need(lib, "Py_InitializeEx");
    run_fn run = (run_fn)need(lib, "PyRun_SimpleString");
    fini_fn finalize = (fini_fn)need(lib, "Py_FinalizeEx");
    if (!initialize || !run || !finalize) return 2;
    initialize(0);
    int rc = run(code);
    if (finalize() < 0) return 2;
    return rc == 0 ? 0 : 1;
}
