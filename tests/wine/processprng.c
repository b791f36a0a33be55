/*
 * A stand-in bcryptprimitives.dll for Wine 8, which has none: Rust's standard library (1.78+)
 * imports ProcessPrng from it to seed its random numbers, so without it a Rust .exe fails to load
 * (STATUS_DLL_NOT_FOUND). ProcessPrng is forwarded to advapi32's RtlGenRandom (SystemFunction036),
 * which Wine implements.
 *
 * Built and installed into a Wine prefix by scripts/test; never shipped.
 */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T length)
{
    while (length > 0) {
        ULONG chunk = length > 0x10000000 ? 0x10000000 : (ULONG)length;
        if (!SystemFunction036(data, chunk))
            return FALSE;
        data += chunk;
        length -= chunk;
    }
    return TRUE;
}
