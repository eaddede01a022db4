import Testing

@testable import IMAPCore

@Suite("Timestamps")
struct TimestampTests {
    @Test(
        "RFC 3339 with microseconds, in UTC",
        arguments: [
            (Int64(0), "1970-01-01T00:00:00.000000Z"),
            (1, "1970-01-01T00:00:00.000001Z"),
            (-1, "1969-12-31T23:59:59.999999Z"),
            (1_700_000_000_001_000, "2023-11-14T22:13:20.001000Z"),
            (951_782_400_000_000, "2000-02-29T00:00:00.000000Z"),
            (253_402_300_799_999_999, "9999-12-31T23:59:59.999999Z"),
            // Past year 9999 and before year 0: as many digits as the year takes.
            (253_402_300_800_000_000, "10000-01-01T00:00:00.000000Z"),
            (-62_167_219_200_000_001, "-0001-12-31T23:59:59.999999Z"),
        ])
    func formats(_ microseconds: Int64, _ expected: String) {
        let time = Timestamp(microseconds: microseconds)
        #expect(time.rfc3339 == expected)
        var appended: [UInt8] = Array("x".utf8)
        time.writeRFC3339(to: &appended)
        #expect(appended == Array(("x" + expected).utf8))
        if microseconds >= 0 && microseconds < 253_402_300_800_000_000 {
            #expect(Timestamp(rfc3339: expected) == time, "reads back")
        }
    }
}
