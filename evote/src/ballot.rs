//! A poll's election parameters, voters' credentials, and ballots: made on
//! the voter's device, checked by the app before it stores them, and by
//! anyone on the board.

use curve25519_dalek::scalar::Scalar;
use rand_core::CryptoRngCore;
use serde::{Deserialize, Serialize};

use crate::elgamal::Ciphertext;
use crate::group::{Num, Point, Transcript};
use crate::proof::{Disjunctive, Schnorr};

/// What a ballot answers and the key it is encrypted under: everything
/// needed to make or check one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Election {
    /// The poll's id.
    pub poll: String,
    /// The question, as voters read it.
    pub question: String,
    /// The options' names, in order: what each count of the result is for.
    pub option_names: Vec<String>,
    /// How many options the poll has.
    pub options: u32,
    /// The fewest options a ballot chooses.
    pub min: u32,
    /// The most options a ballot chooses.
    pub max: u32,
    /// The election key: the sum of the trustees' public keys.
    pub key: Point,
}

/// Why an election's parameters, a credential or a ballot was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BallotError {
    #[error(
        "a poll has 1..=50 options, each named, and 0 < min <= max <= options; got {options} options, min {min}, max {max}"
    )]
    Parameters { options: u32, min: u32, max: u32 },
    #[error("the election key is the neutral element, under which anyone can decrypt")]
    IdentityKey,
    #[error("choose {min}..={max} of the options 0..{options}, each once; got {chosen:?}")]
    Choices {
        chosen: Vec<u32>,
        options: u32,
        min: u32,
        max: u32,
    },
    #[error("a credential is {CREDENTIAL_LEN} characters of {CREDENTIAL_ALPHABET}")]
    CredentialText,
    #[error("the ballot has {got} encrypted choices; the poll has {options} options")]
    Shape { got: usize, options: u32 },
    #[error("the proof that choice {0} encrypts 0 or 1 does not hold")]
    ChoiceProof(usize),
    #[error("the proof that the ballot chooses {min}..={max} options does not hold")]
    TotalProof { min: u32, max: u32 },
    #[error("the credential's signature on the ballot does not hold")]
    Signature,
    #[error("the ballot could not be checked")]
    Unchecked,
}

/// The most options a poll may have (the app's limit too).
pub const MAX_OPTIONS: u32 = 50;

impl Election {
    /// Check the parameters: 1..=50 options, each named,
    /// `0 < min <= max <= options`, and a key that is not the neutral
    /// element.
    pub fn check(&self) -> Result<(), BallotError> {
        if self.key == Point::identity() {
            return Err(BallotError::IdentityKey);
        }
        let ok = (1..=MAX_OPTIONS).contains(&self.options)
            && self.option_names.len() == self.options as usize
            && 0 < self.min
            && self.min <= self.max
            && self.max <= self.options;
        if ok {
            Ok(())
        } else {
            Err(BallotError::Parameters {
                options: self.options,
                min: self.min,
                max: self.max,
            })
        }
    }

    /// The hash `election` over the poll id, the question, the number of
    /// options and each option's name, min, max and the key. Every
    /// ballot's proofs and signature are bound to it, so changing any of
    /// them (swapping two options' names, say) invalidates every ballot.
    pub fn digest(&self) -> [u8; 64] {
        let t = Transcript::new("election")
            .text(&self.poll)
            .text(&self.question)
            .number(u64::from(self.options));
        self.option_names
            .iter()
            .fold(t, |t, name| t.text(name))
            .number(u64::from(self.min))
            .number(u64::from(self.max))
            .point(&self.key)
            .digest()
    }

    fn choice_context(&self, credential: &Point, option: usize) -> Transcript {
        Transcript::new("choice")
            .bytes(&self.digest())
            .point(credential)
            .number(option as u64)
    }

    fn total_context(&self, credential: &Point) -> Transcript {
        Transcript::new("total")
            .bytes(&self.digest())
            .point(credential)
    }
}

/// The characters of a credential: base58, with no `0 O I l`.
pub const CREDENTIAL_ALPHABET: &str = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
/// A credential's length: 20 characters, about 117 bits.
pub const CREDENTIAL_LEN: usize = 20;

/// A voter's credential: the secret text the voter receives, the signing
/// key derived from it (with the poll's id), and the public key on the
/// board's roll.
#[derive(Clone)]
pub struct Credential {
    text: String,
    secret: Scalar,
    public: Point,
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credential({})", self.public.to_hex())
    }
}

impl Credential {
    /// A new random credential for `poll`.
    pub fn generate(poll: &str, rng: &mut impl CryptoRngCore) -> Self {
        let alphabet = CREDENTIAL_ALPHABET.as_bytes();
        let mut text = String::with_capacity(CREDENTIAL_LEN);
        while text.len() < CREDENTIAL_LEN {
            let mut byte = [0u8; 1];
            rng.fill_bytes(&mut byte);
            // 232 = 4 × 58: rejecting the rest keeps every character equally likely.
            if byte[0] < 232 {
                text.push(char::from(alphabet[usize::from(byte[0]) % alphabet.len()]));
            }
        }
        Self::derive(poll, text)
    }

    /// The credential written as `text`, for `poll`. Spaces and dashes a
    /// voter types between groups are ignored.
    pub fn from_text(poll: &str, text: &str) -> Result<Self, BallotError> {
        let text: String = text.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
        let valid =
            text.len() == CREDENTIAL_LEN && text.chars().all(|c| CREDENTIAL_ALPHABET.contains(c));
        if !valid {
            return Err(BallotError::CredentialText);
        }
        Ok(Self::derive(poll, text))
    }

    fn derive(poll: &str, text: String) -> Self {
        let secret = Transcript::new("credential")
            .text(poll)
            .text(&text)
            .challenge();
        Credential {
            public: Point::base(&secret),
            secret,
            text,
        }
    }

    /// The text to give the voter.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The public key, listed on the roll.
    pub fn public(&self) -> &Point {
        &self.public
    }
}

/// One option's encrypted choice (0 or 1) and its proof.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Choice {
    pub ciphertext: Ciphertext,
    pub proof: Disjunctive,
}

/// A ballot: one encrypted 0/1 per option with proofs, a proof that the
/// options chosen number `min..=max`, all signed with a roll credential.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ballot {
    /// The credential's public key.
    pub credential: Point,
    pub choices: Vec<Choice>,
    /// The sum of the choices is in `min..=max`.
    pub total: Disjunctive,
    /// The credential's signature of everything above.
    pub signature: Schnorr,
}

/// The randomness each choice was encrypted with: what a voter reveals to
/// audit a ballot (and then does not cast it).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Opening {
    /// The options chosen, ascending.
    pub chosen: Vec<u32>,
    /// One per option.
    pub randomness: Vec<Num>,
}

impl Ballot {
    /// Encrypt, prove and sign the choice of `chosen` (option indices).
    pub fn create(
        election: &Election,
        credential: &Credential,
        chosen: &[u32],
        rng: &mut impl CryptoRngCore,
    ) -> Result<(Ballot, Opening), BallotError> {
        let (mut ballot, opening) = Ballot::encrypt(election, credential, chosen, rng)?;
        ballot.sign(election, credential, rng);
        Ok((ballot, opening))
    }

    /// Encrypt and prove the choice of `chosen` for `credential`, without
    /// signing: Benaloh's commitment. Its [`tracker`](Self::tracker) is
    /// already final. The voter then either audits it (it is shown with
    /// its opening and never cast: an unsigned ballot is refused) or has it
    /// [`sign`](Self::sign)ed and casts it.
    pub fn encrypt(
        election: &Election,
        credential: &Credential,
        chosen: &[u32],
        rng: &mut impl CryptoRngCore,
    ) -> Result<(Ballot, Opening), BallotError> {
        election.check()?;
        let mut sorted = chosen.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        let fits = sorted.len() == chosen.len()
            && sorted.iter().all(|c| *c < election.options)
            && (election.min as usize..=election.max as usize).contains(&sorted.len());
        if !fits {
            return Err(BallotError::Choices {
                chosen: chosen.to_vec(),
                options: election.options,
                min: election.min,
                max: election.max,
            });
        }
        let key = &election.key;
        let mut choices = Vec::with_capacity(election.options as usize);
        let mut randomness = Vec::with_capacity(election.options as usize);
        let mut r_total = Scalar::ZERO;
        let mut sum = Ciphertext::zero();
        for option in 0..election.options {
            let m = u32::from(sorted.contains(&option));
            let (ciphertext, r) = Ciphertext::encrypt(key, m, rng);
            let context = election.choice_context(&credential.public, option as usize);
            let proof = Disjunctive::prove(context, key, &ciphertext, &r, m, 0..=1, rng);
            r_total += r;
            sum = sum + ciphertext;
            randomness.push(Num(r));
            choices.push(Choice { ciphertext, proof });
        }
        let total = Disjunctive::prove(
            election.total_context(&credential.public),
            key,
            &sum,
            &r_total,
            sorted.len() as u32,
            election.min..=election.max,
            rng,
        );
        let ballot = Ballot {
            credential: credential.public,
            choices,
            total,
            // No signature: (0, 0) never verifies.
            signature: Schnorr {
                challenge: Num(Scalar::ZERO),
                response: Num(Scalar::ZERO),
            },
        };
        Ok((
            ballot,
            Opening {
                chosen: sorted,
                randomness,
            },
        ))
    }

    /// Sign the ballot with `credential` (which becomes its credential).
    pub fn sign(
        &mut self,
        election: &Election,
        credential: &Credential,
        rng: &mut impl CryptoRngCore,
    ) {
        self.credential = credential.public;
        self.signature = Schnorr::prove(
            self.signed(election),
            &credential.secret,
            &credential.public,
            rng,
        );
    }

    /// What the signature covers: the election's digest, then every
    /// ciphertext and every proof of the ballot.
    fn signed(&self, election: &Election) -> Transcript {
        Transcript::new("signature")
            .bytes(&election.digest())
            .bytes(&self.content_digest())
    }

    /// SHA-512 over the ballot's ciphertexts and proofs (not its signature).
    fn content_digest(&self) -> [u8; 64] {
        let mut t = Transcript::new("ballot").point(&self.credential);
        for choice in &self.choices {
            t = t
                .point(&choice.ciphertext.alpha)
                .point(&choice.ciphertext.beta);
            for pair in &choice.proof.0 {
                t = t.scalar(&pair.challenge.0).scalar(&pair.response.0);
            }
        }
        for pair in &self.total.0 {
            t = t.scalar(&pair.challenge.0).scalar(&pair.response.0);
        }
        t.digest()
    }

    /// The ballot's tracker, which the voter keeps to find it on the board:
    /// the first 32 bytes of SHA-512 over its credential, ciphertexts and
    /// proofs, in hex. It leaves the signature out, so that a device shows
    /// it before the voter decides to audit or to cast (only the
    /// credential's holder can sign the same content again).
    pub fn tracker(&self) -> String {
        let digest = Transcript::new("tracker")
            .bytes(&self.content_digest())
            .digest();
        hex::encode(&digest[..32])
    }

    /// Check every proof and the signature. Says which failed.
    pub fn verify(&self, election: &Election) -> Result<(), BallotError> {
        self.check_shape(election)?;
        if !self
            .signature
            .verify(self.signed(election), &self.credential)
        {
            return Err(BallotError::Signature);
        }
        self.verify_proofs(election)
    }

    fn check_shape(&self, election: &Election) -> Result<(), BallotError> {
        if self.choices.len() == election.options as usize {
            Ok(())
        } else {
            Err(BallotError::Shape {
                got: self.choices.len(),
                options: election.options,
            })
        }
    }

    /// Check every proof, not the signature: what an audit checks of a
    /// ballot that was never signed.
    pub fn verify_proofs(&self, election: &Election) -> Result<(), BallotError> {
        self.check_shape(election)?;
        let key = &election.key;
        let mut sum = crate::elgamal::Sum::new();
        for (option, choice) in self.choices.iter().enumerate() {
            let context = election.choice_context(&self.credential, option);
            if !choice.proof.verify(context, key, &choice.ciphertext, 0..=1) {
                return Err(BallotError::ChoiceProof(option));
            }
            sum.add(&choice.ciphertext);
        }
        let context = election.total_context(&self.credential);
        if !self
            .total
            .verify(context, key, &sum.finish(), election.min..=election.max)
        {
            return Err(BallotError::TotalProof {
                min: election.min,
                max: election.max,
            });
        }
        Ok(())
    }

    /// Benaloh's audit: whether `opening` shows that this ballot encrypts
    /// exactly `opening.chosen`. A voter who audits a ballot learns their
    /// device encrypted what they chose, then makes a new one to cast.
    pub fn audit(&self, election: &Election, opening: &Opening) -> bool {
        self.choices.len() == election.options as usize
            && opening.randomness.len() == self.choices.len()
            && opening.chosen.windows(2).all(|w| w[0] < w[1])
            && opening.chosen.iter().all(|o| *o < election.options)
            && self
                .choices
                .iter()
                .zip(&opening.randomness)
                .enumerate()
                .all(|(option, (choice, r))| {
                    let m = u32::from(opening.chosen.contains(&(option as u32)));
                    Ciphertext::encrypt_with(&election.key, m, &r.0) == choice.ciphertext
                })
    }
}
