"""Reading IHE XDM media (ITI-32): the tree, METADATA.XML (ebRIM 3.0) and the document files.

No database here: `medium` opens a medium (a ZIP file or a folder) without trusting it and lists
its submission sets, `metadata` parses each METADATA.XML into `Entry` objects, `values` reads the
HL7 values in them, and `planning` turns one entry into a `Plan` (what Carnet would store) or a
refusal with a reason; `codes` holds the identifiers of the XDS metadata model. The import itself,
with the database, is `documents.migration`.

What is read and why is documented in docs/formats/xdm.md; the reference note is
shared/design/xdm-import.md (section numbers in these modules are the note's). Rules: ID-1 (INS
systems and key), ID-2 (RPPS), ID-3 (checked at deposit), DOC-1 (LOINC types, size, SHA-1), DOC-2
(flags).

Safety, because a medium is untrusted input:
- METADATA.XML is parsed with defusedxml, DTDs and entities forbidden (no billion laughs, no XXE);
- member names and URIs with `..`, absolute paths, drive letters or NUL are refused; files are
  looked up in an index of the medium built beforehand, never through the file system with a name
  taken from the metadata, so nothing outside the medium can ever be read;
- ZIP members: only stored/deflated, capped in number, in size (declared and actually read, since
  headers can lie), in compression ratio and in total bytes read; symbolic links are refused.
"""
