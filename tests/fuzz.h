/* The libFuzzer entry point every fuzz target defines (tests/fuzz.cmake). */
#ifndef DENALI_TEST_FUZZ_H
#define DENALI_TEST_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif /* DENALI_TEST_FUZZ_H */
