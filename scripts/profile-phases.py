#!/usr/bin/env python3
"""Groups a flat perf profile (scripts/profile.sh's *.flat) into the phases of a request.

Usage: scripts/profile-phases.py FLAT...   Prints each phase's share of the host's samples.
The patterns are by symbol and library; anything unmatched is listed under "other" with its
largest symbols, so a new cost shows up instead of hiding."""
import re
import sys

PHASES = [
    ("guest code (the component)", lambda dso, sym: dso.endswith(".cwasm") or dso.startswith("[JIT]") or sym.startswith("wasm[")),
    ("memory reset: memset/copy of kept pages", lambda dso, sym: "memset" in sym or ("memmove" in sym and False)),
    ("memory reset: madvise, unmapping, TLB shootdowns", lambda dso, sym: re.search(r"smp_call_function|flush_tlb|unmap_page_range|zap_|free_pages|tlb_|madvise|release_pages|folio_batch|free_unref|__free_one|page_remove_rmap|lru_add|lruvec", sym)),
    ("page faults", lambda dso, sym: re.search(r"page_fault|handle_mm_fault|handle_pte|do_fault|filemap_map|next_uptodate_folio|clear_page|alloc_pages|vm_normal_page|do_anonymous|set_pte|folio_add|mas_walk|lock_vma|__pte|filemap_get_entry|pte_", sym)),
    ("scheduling and wake-ups (threads)", lambda dso, sym: re.search(r"finish_task_switch|native_write_msr|schedule|futex|try_to_wake_up|select_task_rq|enqueue_|dequeue_|update_curr|_raw_spin|pick_next|psi_|ttwu|wake_q|switch_mm|context_switch|native_sched|cpuidle|syscall_exit_to_user|irqentry_exit|ep_poll|do_epoll|sched_|tick_", sym) or "parking_lot" in sym or "futex" in sym),
    ("network (kernel TCP, epoll)", lambda dso, sym: re.search(r"tcp_|ip_|__sys_|sock_|skb|__netif|net_rx|loopback|inet_|__dev_|nf_|sk_|ep_|eventpoll|do_syscall_64|entry_SYSCALL|copy_user|_copy_|__fget|fdget|syscall", sym) and dso.startswith("[kernel")),
    ("wasmtime: instance, store, linking", lambda dso, sym: dso == "asm" and re.search(r"wasmtime::runtime::(vm::instance|instance|store|vm::|component::instance|component::linker|linker|func|component::func|component::resource)|wasmtime_environ|OwnedImports|InstancePre|Store<", sym) and "wasmtime_wasi" not in sym),
    ("wasi-http: request/response resources, bodies", lambda dso, sym: "wasmtime_wasi_http" in sym),
    ("wasi: context, streams, clocks, random", lambda dso, sym: "wasmtime_wasi" in sym or "cap_std" in sym or "rand::" in sym or "ResourceTable" in sym),
    ("store calls: redis, sqlx", lambda dso, sym: re.search(r"redis::|sqlx|asm_stores|asm_host::stores", sym)),
    ("hyper and the server", lambda dso, sym: re.search(r"hyper|http::|httparse|asm_host::server|h1::", sym)),
    ("tokio runtime", lambda dso, sym: "tokio::" in sym),
    ("allocation", lambda dso, sym: re.search(r"malloc|_int_free|cfree|free$|realloc|unlink_chunk|consolidate|tcache|__libc_calloc|_int_realloc", sym)),
    ("host: other", lambda dso, sym: dso == "asm"),
    ("libc: other (memmove etc.)", lambda dso, sym: dso.startswith("libc")),
    ("kernel: other", lambda dso, sym: dso.startswith("[kernel")),
]

def parse(path):
    rows = []
    for line in open(path, errors="replace"):
        m = re.match(r"\s+([\d.]+)%\s+(.+?)\s+\[[.k]\]\s+(.*?)\s{2,}", line + "  ")
        if m:
            rows.append((float(m.group(1)), m.group(2), m.group(3).strip()))
    return rows

for path in sys.argv[1:]:
    rows = parse(path)
    total = sum(p for p, _, _ in rows) or 1
    buckets = {name: 0.0 for name, _ in PHASES}
    other = []
    for pct, dso, sym in rows:
        for name, match in PHASES:
            if match(dso, sym):
                buckets[name] += pct
                break
        else:
            other.append((pct, dso, sym))
    print(f"## {path} ({total:.1f}% of samples parsed)")
    for name, _ in PHASES:
        if buckets[name] >= 0.05:
            print(f"  {buckets[name] / total * 100:5.1f}%  {name}")
    if other:
        print(f"  {sum(p for p, _, _ in other) / total * 100:5.1f}%  unmatched, largest: " + ", ".join(f"{s[:50]} {p:.1f}%" for p, _, s in sorted(other, reverse=True)[:5]))
