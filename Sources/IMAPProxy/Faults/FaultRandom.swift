/// SplitMix64 (Steele, Lea, Flood 2014): a small seeded generator, so that the same rules, seed
/// and traffic draw the same numbers on every run and every platform.
struct FaultRandom: Sendable, Equatable {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    /// A rule's generator for one session: its seed mixed with the session's number, so sessions
    /// differ from each other but each is the same on every run.
    init(seed: UInt64, session: Int) {
        var mixer = FaultRandom(seed: seed ^ (UInt64(truncatingIfNeeded: session) &* 0x9E37_79B9_7F4A_7C15))
        state = mixer.next()
    }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var mixed = state
        mixed = (mixed ^ (mixed >> 30)) &* 0xBF58_476D_1CE4_E5B9
        mixed = (mixed ^ (mixed >> 27)) &* 0x94D0_49BB_1331_11EB
        return mixed ^ (mixed >> 31)
    }

    /// A number in [0, 1) from the top 53 bits.
    mutating func unit() -> Double { Double(next() >> 11) / Double(UInt64(1) << 53) }
}
