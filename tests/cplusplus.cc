// cplusplus.cc -- rgn.h and rgn_check.h compile as C++ and link: a C++
// program can use rgn as it is.
#include <rgn.h>
#include <rgn_check.h>

#include <cstdlib>

static int free_it(void *p, rgn_release_type)
{
    std::free(p);
    return 0;
}

int main()
{
    rgn_t *r = rgn_new();
    if (!r)
        return 1;
    rgn_key_t k = RGN_KEY_NONE;
    if (rgn_register(r, free_it, std::malloc(8), &k) != 0)
        return 1;
    if (rgn_key_is_none(k) || rgn_live(r) != 1)
        return 1;
    void *m = rgn_malloc(r, 16);
    if (!m || rgn_free(r, m) != 0)
        return 1;
    return rgn_close(r) == 0 ? 0 : 1;
}
