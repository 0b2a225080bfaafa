package masterkey

// ParseExecOutput exposes parseExecOutput to the fuzz test.
var ParseExecOutput = parseExecOutput

// CleanStderr exposes cleanStderr to the tests.
var CleanStderr = cleanStderr
