// keel's memory allocator: jemalloc, linked statically into keel (the CLI)
// alone (CMakeLists.txt), with these options.
//
// A plan or apply of a large stack builds a few hundred thousand small
// objects (the YAML tree, the state's JSON, the plan) and frees them all:
// with glibc's malloc on 4 KiB pages, a no-op plan of 10,000 resources spent
// about a third of its time in page faults and another third in malloc and
// free (perf; docs/decisions.md "jemalloc for keel"). jemalloc with
// transparent huge pages for its arenas (`thp:always`: madvise, which this
// kernel's default `madvise` mode honours) cut that plan's CPU time by half.
// keel-agent and keel-dr keep glibc's malloc: the agent runs for months and
// its footprint matters more than its allocation speed.
//
// jemalloc reads this string at its first allocation; MALLOC_CONF in the
// environment still overrides it (jemalloc(3), "TUNING").
extern "C" {
extern const char* malloc_conf;
const char* malloc_conf = "thp:always,metadata_thp:auto";
}
