"""The FHIR R4 API (IHE MHD): ITI-65 deposits, ITI-67 searches, ITI-68 retrieval, metadata updates."""
