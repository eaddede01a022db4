import IMAPCore

/// Schema v1 JSON Lines: one compact object per line.
public final class JSONLinesWriter: EventSink {
    public var readsWire: Bool { false }
    private let out: ByteOutput
    private var buffer: [UInt8] = []
    /// Hands each event's line to `out` as it comes (the proxy's live `--log`) instead of 64 KiB at a time.
    private let live: Bool

    public init(_ out: ByteOutput, live: Bool = false) {
        self.out = out
        self.live = live
    }

    public func write(_ event: Event) {
        event.encode(to: &buffer)
        buffer.append(0x0A)
        if live || buffer.count >= 64 * 1024 {
            out.write(buffer)
            buffer.removeAll(keepingCapacity: true)
        }
    }

    public func finish() {
        out.write(buffer)
        buffer.removeAll()
        out.flush()
    }
}

/// Reads schema v1 JSON Lines back into events; a bad line is an error naming its number.
public enum JSONLinesReader {
    public struct Failure: Error, CustomStringConvertible {
        public var line: Int
        public var message: String
        public var description: String { "line \(line): \(message)" }
    }

    public static func read(_ bytes: [UInt8]) throws -> [Event] {
        var events: [Event] = []
        var lineNumber = 0
        // Lines found by an index loop over the array: the generic `split` costs a call (and, in
        // a debug build, an allocation) per byte, which made reading back a few kilobytes
        // dominate the fuzzer's time.
        var start = 0
        while start <= bytes.count {
            var end = start
            while end < bytes.count, bytes[end] != 0x0A { end += 1 }
            lineNumber += 1
            var stop = end
            if stop > start, bytes[stop - 1] == 0x0D { stop -= 1 }
            var blank = true
            for i in start..<stop where bytes[i] != 0x20 && bytes[i] != 0x09 {
                blank = false
                break
            }
            if !blank {
                do {
                    events.append(try Event(json: try JSONParser.parse(Array(bytes[start..<stop]))))
                } catch {
                    throw Failure(line: lineNumber, message: "\(error)")
                }
            }
            start = end + 1
        }
        return events
    }
}
