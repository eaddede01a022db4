import Foundation

/// Whether this test process runs under a sanitizer (`swift test --sanitize=address|thread`).
/// Their runtimes keep shadow memory and quarantines, so resident memory says nothing about the
/// code under test there; tests that measure it are disabled under them.
public enum Sanitizer {
    public static let isActive: Bool = {
        // The runtimes export their entry points; a plain build has none of them.
        let handle = dlopen(nil, RTLD_NOW)
        defer { if let handle { dlclose(handle) } }
        let entryPoints: [String] = ["__asan_init", "__tsan_init"]
        return entryPoints.contains { dlsym(handle, $0) != nil }
    }()
}
