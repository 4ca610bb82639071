// bcryptprimitives.dll for Wine 8 (Debian bookworm's), which has none: Go 1.24 and later take
// their random bytes from its ProcessPrng, which Windows 10 and later have and Wine 9 added. This
// forwards to RtlGenRandom (advapi32's SystemFunction036), which Wine 8 implements. Built by the
// test with mingw-w64 into the Wine prefix's system32; nothing else in the binary is replaced.
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
	while (len > 0) {
		ULONG n = len > 0x40000000 ? 0x40000000 : (ULONG)len;
		if (!SystemFunction036(data, n))
			return FALSE;
		data += n;
		len -= n;
	}
	return TRUE;
}
