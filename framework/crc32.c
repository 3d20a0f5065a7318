/* crc32.c — CRC-32 as zlib computes it (IEEE 802.3 polynomial 0x04C11DB7,
 * reflected as 0xEDB88320, initial value and final xor 0xFFFFFFFF).
 *   ag_crc32(0, "The quick brown fox jumps over the lazy dog", 43) = 0x414FA339
 * The Bible builder splits chapters by it. Bit by bit, with no table: the
 * strings it sees are a few bytes long, and there is no shared state. */
#include "internal.h"

uint32_t ag_crc32(uint32_t crc, const void *data, size_t n)
{
    const unsigned char *p = data;
    crc = ~crc;
    for (size_t i = 0; i < n; i++) {
        crc ^= p[i];
        for (int k = 0; k < 8; k++)
            crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
    }
    return ~crc;
}
