/// What can be shown of a SASL exchange without revealing a credential: the user name where
/// the mechanism carries one in the clear (RFC 4616 PLAIN, XOAUTH2, RFC 7628 OAUTHBEARER,
/// RFC 2195 CRAM-MD5, RFC 5802 SCRAM, RFC 2831 DIGEST-MD5, the LOGIN mechanism's first step).
public enum SASL {
    /// The user a client SASL message names, for a 1-based step of `mechanism`.
    public static func user(mechanism: String, step: Int, payload: [UInt8]) -> String? {
        let text = String(decoding: payload, as: UTF8.self)
        switch mechanism.uppercased() {
        case "PLAIN":
            // message = [authzid] UTF8NUL authcid UTF8NUL passwd
            let parts = payload.split(separator: 0, omittingEmptySubsequences: false)
            guard parts.count == 3 else { return nil }
            return String(decoding: parts[1], as: UTF8.self)
        case "LOGIN":
            return step == 1 ? text : nil
        case "XOAUTH2":
            // "user=" {User} "^Aauth=Bearer " {token} "^A^A"
            for part in payload.split(separator: 1) where part.starts(with: Array("user=".utf8)) {
                return String(decoding: part.dropFirst(5), as: UTF8.self)
            }
            return nil
        case "OAUTHBEARER":
            // gs2-header = gs2-cbind-flag "," [ authzid ] ","   with authzid = "a=" saslname
            guard let header = payload.split(separator: 1).first else { return nil }
            for field in header.split(separator: UInt8(ascii: ",")) where field.starts(with: Array("a=".utf8)) {
                return unescapeSASLName(String(decoding: field.dropFirst(2), as: UTF8.self))
            }
            return nil
        case "CRAM-MD5":
            // response = user SP digest
            guard step == 1, let sp = payload.lastIndex(of: 0x20) else { return nil }
            return String(decoding: payload[..<sp], as: UTF8.self)
        case "DIGEST-MD5":
            guard let usernameStart = text.range(of: "username=\"") else { return nil }
            let rest = text[usernameStart.upperBound...]
            return rest.firstIndex(of: "\"").map { String(rest[..<$0]) }
        case let scram where scram.hasPrefix("SCRAM-"):
            // client-first-message = gs2-header "n=" saslname "," "r=" c-nonce
            guard step == 1 else { return nil }
            for field in text.split(separator: ",") where field.hasPrefix("n=") {
                return unescapeSASLName(String(field.dropFirst(2)))
            }
            return nil
        case "EXTERNAL":
            return text.isEmpty ? nil : text
        default:
            return nil
        }
    }

    /// The authorization identity PLAIN carries, when it differs from empty.
    public static func authzid(mechanism: String, payload: [UInt8]) -> String? {
        guard mechanism.uppercased() == "PLAIN" else { return nil }
        let parts = payload.split(separator: 0, omittingEmptySubsequences: false)
        guard parts.count == 3, !parts[0].isEmpty else { return nil }
        return String(decoding: parts[0], as: UTF8.self)
    }

    /// Server challenges that are safe and useful to show (CRAM-MD5's timestamp, LOGIN's prompts).
    public static func showableChallenge(mechanism: String, payload: [UInt8]) -> String? {
        switch mechanism.uppercased() {
        case "CRAM-MD5", "LOGIN":
            guard payload.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }) else { return nil }
            return String(decoding: payload, as: UTF8.self)
        default:
            return nil
        }
    }

    /// RFC 4422 §3.1 `sasl-mech`, letters of either case.
    public static func isMechanismName(_ name: String) -> Bool {
        (1...20).contains(name.utf8.count)
            && name.utf8.allSatisfy {
                ($0 >= 65 && $0 <= 90) || ($0 >= 97 && $0 <= 122) || ($0 >= 48 && $0 <= 57) || $0 == 45 || $0 == 95
            }
    }

    static func unescapeSASLName(_ name: String) -> String {
        name.replacingOccurrences(of: "=2C", with: ",").replacingOccurrences(of: "=3D", with: "=")
    }
}
