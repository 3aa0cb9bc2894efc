"""Documents: deposited by professionals (FHIR / IHE MHD), uploaded by holders, migrated from the DMP."""
