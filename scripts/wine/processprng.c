/*
 * bcryptprimitives.dll for Wine 8.0, which lacks it.
 *
 * The Go runtime (1.24 and later) gets its random bytes on Windows from
 * ProcessPrng in bcryptprimitives.dll and refuses to start without it.
 * Wine 8.0 has no such DLL, so scripts/test-windows builds this one at test
 * time (never committed as a binary) and copies it into the throwaway
 * WINEPREFIX's system32. It exports ProcessPrng on top of advapi32's
 * RtlGenRandom (SystemFunction036), which Wine implements.
 *
 *   x86_64-w64-mingw32-gcc -shared -O2 -o bcryptprimitives.dll processprng.c -ladvapi32
 */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T size)
{
	/* RtlGenRandom takes a ULONG length: fill larger buffers in pieces. */
	while (size > 0) {
		ULONG n = size > 0x40000000 ? 0x40000000 : (ULONG)size;
		if (!SystemFunction036(data, n))
			return FALSE;
		data += n;
		size -= n;
	}
	return TRUE;
}
