// IKEv2 certificate authentication (control/ike/ike_cert) with certificates made at test time by the
// `openssl` command in a temporary directory: a CA (P-256) with an intermediate, RSA and ECDSA leaf
// certificates, and a second, unrelated CA with a leaf of its own. Checked: loading (a key file others may
// read, a key that is not the certificate's), CERTREQ's hashes against `openssl pkey | openssl dgst`, chain
// verification and subjectAltNames, and AUTH signatures both ways: ours verified by `openssl dgst -verify`,
// the `openssl dgst -sign` ones verified by verify_auth.
#include <gtest/gtest.h>
#include <openssl/x509.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "ike_cert.hpp"

using namespace nemo::ike;

namespace {

std::string g_dir; // the temporary directory of this run's certificates

std::string path(const std::string& name) { return g_dir + "/" + name; }

std::vector<uint8_t> read_bytes(const std::string& name)
{
    std::ifstream in(path(name), std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_bytes(const std::string& name, const std::vector<uint8_t>& b)
{
    std::ofstream out(path(name), std::ios::binary);
    out.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
}

// Runs a shell command in the certificate directory; its exit status.
int run(const std::string& cmd)
{
    const std::string full = "cd '" + g_dir + "' && (" + cmd + ") >>openssl.log 2>&1";
    const int rc = std::system(full.c_str());
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

// The certificates: ca (P-256) -> int (P-256) -> mr (P-256, "mr1.example.net"); ca -> rsa and ec
// (subject CN=ha.example.net, O=NEMO, with DNS, email and two IP subjectAltNames); other_ca (RSA) ->
// other. Every certificate also as .der, every key also as _pub.pem.
const char kMakeCerts[] = R"(set -e
printf 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n' > ca_ext.cnf
printf 'subjectAltName=DNS:ha.example.net,email:ops@example.net,IP:192.0.2.1,IP:2001:db8::1\n' > ha_ext.cnf
printf 'subjectAltName=DNS:mr1.example.net\n' > mr_ext.cnf
EC="-newkey ec -pkeyopt ec_paramgen_curve:P-256"
openssl req -x509 $EC -nodes -keyout ca.key -out ca.pem -days 3 -subj "/CN=NEMO Test CA" \
  -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
openssl req -x509 -newkey rsa:2048 -nodes -keyout other_ca.key -out other_ca.pem -days 3 -subj "/CN=Other CA" \
  -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
leaf() { # name, key options, issuer, subject, extensions
  openssl req -new $2 -nodes -keyout $1.key -out $1.csr -subj "$4"
  openssl x509 -req -in $1.csr -CA $3.pem -CAkey $3.key -CAcreateserial -days 3 -out $1.pem -extfile $5
}
leaf int "$EC" ca "/CN=NEMO Intermediate" ca_ext.cnf
leaf rsa "-newkey rsa:2048" ca "/CN=ha.example.net/O=NEMO" ha_ext.cnf
leaf ec "$EC" ca "/CN=ha.example.net/O=NEMO" ha_ext.cnf
leaf mr "$EC" int "/CN=mr1.example.net" mr_ext.cnf
leaf other "$EC" other_ca "/CN=ha.example.net/O=NEMO" ha_ext.cnf
for c in ca other_ca int rsa ec mr other; do
  openssl x509 -in $c.pem -outform DER -out $c.der
  openssl pkey -in $c.key -pubout -out ${c}_pub.pem
done
chmod 600 *.key
cat ca.pem other_ca.pem > both_ca.pem
openssl pkey -pubin -in ca_pub.pem -outform DER | openssl dgst -sha1 -binary > ca.spki_sha1
openssl pkey -pubin -in other_ca_pub.pem -outform DER | openssl dgst -sha1 -binary > other_ca.spki_sha1
)";

class IkeCert : public ::testing::Test {
protected:
    static void SetUpTestSuite()
    {
        char tmpl[] = "/tmp/nemo_ike_cert_XXXXXX";
        ASSERT_NE(::mkdtemp(tmpl), nullptr);
        g_dir = tmpl;
        ASSERT_EQ(run(kMakeCerts), 0) << "openssl failed; see " << path("openssl.log");
    }
    static void TearDownTestSuite()
    {
        if (!g_dir.empty()) std::filesystem::remove_all(g_dir);
    }

    static std::unique_ptr<CertStore> store(const std::string& name, const std::string& ca = "ca.pem")
    {
        std::string error;
        auto s = CertStore::load(path(ca), path(name + ".pem"), path(name + ".key"), &error);
        EXPECT_TRUE(s) << error;
        return s;
    }
};

const std::vector<uint8_t> kOctets = [] {
    std::vector<uint8_t> b(300);
    for (std::size_t i = 0; i < b.size(); ++i) b[i] = static_cast<uint8_t>(i * 7);
    return b;
}();

TEST_F(IkeCert, LoadsAndGivesItsOwnCertificate)
{
    auto s = store("rsa");
    ASSERT_TRUE(s);
    EXPECT_TRUE(s->own_cert_der() == read_bytes("rsa.der"));
}

TEST_F(IkeCert, RefusesAKeyFileOthersMayRead)
{
    const std::string key = path("rsa_open.key");
    std::filesystem::copy_file(path("rsa.key"), key, std::filesystem::copy_options::overwrite_existing);
    ASSERT_EQ(::chmod(key.c_str(), 0644), 0);
    std::string error;
    EXPECT_FALSE(CertStore::load(path("ca.pem"), path("rsa.pem"), key, &error));
    EXPECT_NE(error.find("chmod 600"), std::string::npos) << error;
    EXPECT_EQ(error.find("PRIVATE"), std::string::npos); // nothing of the file's content
    ASSERT_EQ(::chmod(key.c_str(), 0600), 0);
    EXPECT_TRUE(CertStore::load(path("ca.pem"), path("rsa.pem"), key, &error)) << error;
}

TEST_F(IkeCert, RefusesAKeyThatIsNotTheCertificates)
{
    std::string error;
    EXPECT_FALSE(CertStore::load(path("ca.pem"), path("rsa.pem"), path("ec.key"), &error));
    EXPECT_NE(error.find("not"), std::string::npos) << error;
    EXPECT_FALSE(CertStore::load(path("ca.pem"), path("rsa.pem"), path("missing.key"), &error));
    EXPECT_FALSE(CertStore::load(path("ca_ext.cnf"), path("rsa.pem"), path("rsa.key"), &error)); // no PEM CA
    EXPECT_FALSE(CertStore::load(path("ca.pem"), path("ca_ext.cnf"), path("rsa.key"), &error));
}

TEST_F(IkeCert, CertreqIsTheCasSpkiSha1)
{
    auto one = store("rsa");
    ASSERT_TRUE(one);
    EXPECT_TRUE(one->certreq_data() == read_bytes("ca.spki_sha1"));
    auto two = store("rsa", "both_ca.pem");
    ASSERT_TRUE(two);
    auto expected = read_bytes("ca.spki_sha1");
    const auto other = read_bytes("other_ca.spki_sha1");
    expected.insert(expected.end(), other.begin(), other.end());
    EXPECT_EQ(expected.size(), 40u);
    EXPECT_TRUE(two->certreq_data() == expected);
}

TEST_F(IkeCert, VerifiesAndGivesIdentities)
{
    auto s = store("ec");
    ASSERT_TRUE(s);
    for (const char* leaf : {"rsa.der", "ec.der"}) {
        auto r = s->verify(read_bytes(leaf), {});
        ASSERT_TRUE(std::holds_alternative<CertStore::Verified>(r)) << std::get<std::string>(r);
        const auto& v = std::get<CertStore::Verified>(r);
        EXPECT_EQ(v.alt_names, (std::vector<std::string>{"fqdn:ha.example.net", "email:ops@example.net",
                                                         "ip:192.0.2.1", "ip:2001:db8::1"}));
        const unsigned char* p = v.subject_der.data();
        X509_NAME* name = d2i_X509_NAME(nullptr, &p, static_cast<long>(v.subject_der.size()));
        ASSERT_NE(name, nullptr);
        char buf[256];
        EXPECT_STREQ(X509_NAME_oneline(name, buf, sizeof buf), "/CN=ha.example.net/O=NEMO");
        X509_NAME_free(name);
    }
}

TEST_F(IkeCert, RefusesAnotherCasCertificate)
{
    auto s = store("ec");
    ASSERT_TRUE(s);
    auto r = s->verify(read_bytes("other.der"), {});
    ASSERT_TRUE(std::holds_alternative<std::string>(r));
    EXPECT_NE(std::get<std::string>(r).find("verification failed"), std::string::npos) << std::get<std::string>(r);
    // Sending the other CA along as an "intermediate" does not make it trusted.
    const std::vector<std::vector<uint8_t>> chain = {read_bytes("other_ca.der")};
    EXPECT_TRUE(std::holds_alternative<std::string>(s->verify(read_bytes("other.der"), chain)));
    // With both CAs configured it is accepted.
    auto both = store("ec", "both_ca.pem");
    ASSERT_TRUE(both);
    EXPECT_TRUE(std::holds_alternative<CertStore::Verified>(both->verify(read_bytes("other.der"), {})));
}

TEST_F(IkeCert, IntermediatesComeWithTheCertificate)
{
    auto s = store("ec");
    ASSERT_TRUE(s);
    EXPECT_TRUE(std::holds_alternative<std::string>(s->verify(read_bytes("mr.der"), {})));
    const std::vector<std::vector<uint8_t>> chain = {read_bytes("int.der")};
    auto r = s->verify(read_bytes("mr.der"), chain);
    ASSERT_TRUE(std::holds_alternative<CertStore::Verified>(r)) << std::get<std::string>(r);
    EXPECT_EQ(std::get<CertStore::Verified>(r).alt_names, std::vector<std::string>{"fqdn:mr1.example.net"});
}

TEST_F(IkeCert, RefusesMalformedCertificates)
{
    auto s = store("ec");
    ASSERT_TRUE(s);
    auto der = read_bytes("rsa.der");
    EXPECT_TRUE(std::holds_alternative<std::string>(s->verify({}, {})));
    EXPECT_TRUE(std::holds_alternative<std::string>(s->verify(std::span(der).first(der.size() - 1), {})));
    auto longer = der;
    longer.push_back(0);
    EXPECT_TRUE(std::holds_alternative<std::string>(s->verify(longer, {})));
    auto flipped = der;
    flipped[der.size() - 10] ^= 1; // in the CA's signature
    EXPECT_TRUE(std::holds_alternative<std::string>(s->verify(flipped, {})));
    const std::vector<std::vector<uint8_t>> junk = {{1, 2, 3}};
    EXPECT_TRUE(std::holds_alternative<std::string>(s->verify(der, junk)));
}

TEST_F(IkeCert, RsaSignaturesMethods1And14)
{
    auto s = store("rsa");
    ASSERT_TRUE(s);
    const auto cert = read_bytes("rsa.der");
    std::string error;
    for (uint8_t method : {kAuthRsaSig, kAuthDigitalSig}) {
        const auto auth = s->sign(method, kOctets, &error);
        ASSERT_FALSE(auth.empty()) << error;
        EXPECT_TRUE(verify_auth(cert, method, auth, kOctets));
        auto other = kOctets;
        other[0] ^= 1;
        EXPECT_FALSE(verify_auth(cert, method, auth, other));
        auto bad = auth;
        bad.back() ^= 1;
        EXPECT_FALSE(verify_auth(cert, method, bad, kOctets));
        EXPECT_FALSE(verify_auth(read_bytes("ec.der"), method, auth, kOctets)); // another key
        EXPECT_FALSE(verify_auth(cert, kAuthEcdsaP256, auth, kOctets));
    }
    const auto m14 = s->sign(kAuthDigitalSig, kOctets, &error);
    ASSERT_GE(m14.size(), 16u + 256);
    EXPECT_EQ(m14[0], 15); // sha256WithRSAEncryption's AlgorithmIdentifier
    EXPECT_EQ(m14.size(), 1u + 15 + 256);
    EXPECT_TRUE(s->sign(kAuthEcdsaP256, kOctets, &error).empty());
    EXPECT_NE(error.find("P-256"), std::string::npos) << error;
    EXPECT_TRUE(s->sign(2, kOctets, &error).empty()); // shared key: not a signature
}

TEST_F(IkeCert, EcdsaSignaturesMethods9And14)
{
    auto s = store("ec");
    ASSERT_TRUE(s);
    const auto cert = read_bytes("ec.der");
    std::string error;
    const auto m9 = s->sign(kAuthEcdsaP256, kOctets, &error);
    ASSERT_EQ(m9.size(), 64u) << error;
    EXPECT_TRUE(verify_auth(cert, kAuthEcdsaP256, m9, kOctets));
    EXPECT_FALSE(verify_auth(cert, kAuthEcdsaP256, std::span(m9).first(63), kOctets));
    EXPECT_FALSE(verify_auth(cert, kAuthDigitalSig, m9, kOctets));
    const auto m14 = s->sign(kAuthDigitalSig, kOctets, &error);
    ASSERT_FALSE(m14.empty()) << error;
    EXPECT_EQ(m14[0], 12); // ecdsa-with-SHA256's AlgorithmIdentifier
    EXPECT_TRUE(verify_auth(cert, kAuthDigitalSig, m14, kOctets));
    auto other = kOctets;
    other.back() ^= 0x80;
    EXPECT_FALSE(verify_auth(cert, kAuthDigitalSig, m14, other));
    EXPECT_FALSE(verify_auth(cert, kAuthEcdsaP256, m9, other));
    // The same signature under RSA's AlgorithmIdentifier is refused (the key is not RSA).
    auto relabelled = std::vector<uint8_t>{15, 0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86,
                                           0xf7, 0x0d, 0x01, 0x01, 0x0b, 0x05, 0x00};
    relabelled.insert(relabelled.end(), m14.begin() + 13, m14.end());
    EXPECT_FALSE(verify_auth(cert, kAuthDigitalSig, relabelled, kOctets));
    EXPECT_FALSE(verify_auth(cert, kAuthDigitalSig, std::vector<uint8_t>{200, 1, 2}, kOctets));
    EXPECT_TRUE(s->sign(kAuthRsaSig, kOctets, &error).empty());
    // Another EC key (the MR's) does not verify the home agent's signature.
    EXPECT_FALSE(verify_auth(read_bytes("mr.der"), kAuthEcdsaP256, m9, kOctets));
}

// Our signatures checked by the openssl command, and its signatures checked by verify_auth.
TEST_F(IkeCert, InteroperatesWithTheOpensslCommand)
{
    write_bytes("octets.bin", kOctets);
    std::string error;
    auto rsa = store("rsa");
    auto ec = store("ec");
    ASSERT_TRUE(rsa && ec);

    write_bytes("m1.sig", rsa->sign(kAuthRsaSig, kOctets, &error));
    EXPECT_EQ(run("openssl dgst -sha1 -verify rsa_pub.pem -signature m1.sig octets.bin"), 0);
    auto m14 = ec->sign(kAuthDigitalSig, kOctets, &error);
    ASSERT_GT(m14.size(), 13u);
    write_bytes("m14ec.sig", std::vector<uint8_t>(m14.begin() + 13, m14.end()));
    EXPECT_EQ(run("openssl dgst -sha256 -verify ec_pub.pem -signature m14ec.sig octets.bin"), 0);
    // The command refuses a signature over other octets (so the two checks above can fail).
    EXPECT_NE(run("openssl dgst -sha256 -verify ec_pub.pem -signature m14ec.sig ca_ext.cnf"), 0);

    ASSERT_EQ(run("openssl dgst -sha1 -sign rsa.key -out o1.sig octets.bin"), 0);
    EXPECT_TRUE(verify_auth(read_bytes("rsa.der"), kAuthRsaSig, read_bytes("o1.sig"), kOctets));
    ASSERT_EQ(run("openssl dgst -sha256 -sign rsa.key -out o14rsa.sig octets.bin"), 0);
    std::vector<uint8_t> auth = {15, 0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b, 0x05, 0x00};
    const auto o14 = read_bytes("o14rsa.sig");
    auth.insert(auth.end(), o14.begin(), o14.end());
    EXPECT_TRUE(verify_auth(read_bytes("rsa.der"), kAuthDigitalSig, auth, kOctets));
    ASSERT_EQ(run("openssl dgst -sha256 -sign ec.key -out o14ec.sig octets.bin"), 0);
    std::vector<uint8_t> eauth = {12, 0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02};
    const auto oe = read_bytes("o14ec.sig");
    eauth.insert(eauth.end(), oe.begin(), oe.end());
    EXPECT_TRUE(verify_auth(read_bytes("ec.der"), kAuthDigitalSig, eauth, kOctets));
    EXPECT_FALSE(verify_auth(read_bytes("other.der"), kAuthDigitalSig, eauth, kOctets));
}

} // namespace
