/** The server's version (StatusResponse.version, --version); equal to package.json's, checked by a test. */
export const SERVER_VERSION = "0.1.0";
