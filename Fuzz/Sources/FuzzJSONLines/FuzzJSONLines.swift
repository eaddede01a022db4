import FuzzSupport
import IMAPCore
import IMAPTranscript

// The JSON Lines reader (read and diff take JSON Lines), and what it reads written back out:
// what the writer writes must read back to the same number of events.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzJSONLines(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = FuzzInput(data, size).rest
    guard let events = try? JSONLinesReader.read(bytes) else { return 0 }
    _ = ConversationDiff.lines(events)
    let out = MemoryOutput()
    let writer = JSONLinesWriter(out)
    for e in events { writer.write(e) }
    writer.finish()
    let again: [Event]
    do { again = try JSONLinesReader.read(out.bytes) } catch { fatalError("re-written JSON Lines do not read: \(error)") }
    if again.count != events.count { fatalError("re-written JSON Lines read \(again.count) of \(events.count) events") }
    return 0
}

@_cdecl("FuzzJSONLines_main")
public func fuzzJSONLinesMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc, argv) { data, size in fuzzJSONLines(data, size) }
}
