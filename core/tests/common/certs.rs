//! Test certificates, made fresh for each test run (no private key is ever committed): a CA,
//! certificates it signs, and PEM files for them in a temporary directory.
#![allow(dead_code, unreachable_pub)]

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, Certificate, CertificateParams, DistinguishedName, DnType, IsCa, KeyPair, KeyUsagePurpose,
    date_time_ymd,
};

pub struct Ca {
    cert: Certificate,
    key: KeyPair,
    pub pem: String,
}

/// A certificate and its key as PEM text, and the files holding them.
pub struct Issued {
    pub cert_pem: String,
    pub key_pem: String,
    pub cert_path: PathBuf,
    pub key_path: PathBuf,
}

impl Ca {
    pub fn new(name: &str) -> Ca {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name = DistinguishedName::new();
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages =
            vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
        let cert = params.self_signed(&key).unwrap();
        let pem = cert.pem();
        Ca { cert, key, pem }
    }

    pub fn write(&self, dir: &Path, name: &str) -> PathBuf {
        let path = dir.join(format!("{name}.pem"));
        std::fs::write(&path, &self.pem).unwrap();
        path
    }

    /// A certificate with common name `cn` for the host names / IPs in `sans`.
    pub fn issue(&self, dir: &Path, cn: &str, sans: &[&str]) -> Issued {
        self.issue_with(dir, cn, sans, |_| {})
    }

    /// Like [`issue`](Self::issue), valid only in 2000: long expired.
    pub fn issue_expired(&self, dir: &Path, cn: &str, sans: &[&str]) -> Issued {
        self.issue_with(dir, cn, sans, |p| {
            p.not_before = date_time_ymd(2000, 1, 1);
            p.not_after = date_time_ymd(2000, 12, 31);
        })
    }

    fn issue_with(&self, dir: &Path, cn: &str, sans: &[&str], tweak: impl FnOnce(&mut CertificateParams)) -> Issued {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(sans.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
        params.distinguished_name = DistinguishedName::new();
        params.distinguished_name.push(DnType::CommonName, cn);
        tweak(&mut params);
        let cert = params.signed_by(&key, &self.cert, &self.key).unwrap();
        let (cert_pem, key_pem) = (cert.pem(), key.serialize_pem());
        let cert_path = dir.join(format!("{cn}.crt.pem"));
        let key_path = dir.join(format!("{cn}.key.pem"));
        std::fs::write(&cert_path, &cert_pem).unwrap();
        std::fs::write(&key_path, &key_pem).unwrap();
        Issued { cert_pem, key_pem, cert_path, key_path }
    }
}
