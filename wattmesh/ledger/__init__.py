"""Trade records, signatures, the Merkle log, proofs, audit and the EVM backend."""
