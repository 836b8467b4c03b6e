/* SPDX-License-Identifier: MIT */
/* ready_module.c -- a library that nothing else loads, for rgn_dlopen's
 * tests (tests/check_ready.c) to load, call and see unloaded. */
int ready_module_answer(void);

int ready_module_answer(void)
{
    return 42;
}
