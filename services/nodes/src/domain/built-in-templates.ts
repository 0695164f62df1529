import type { CreateTemplate } from '@encedeus/contracts';

const NODE_ECHO = `
const http = require('http');
const readline = require('readline');
const port = Number(process.env.SERVER_PORT || 0);
const greeting = process.env.GREETING || 'hello';
const ready = () => console.log('Server ready: ' + greeting + (port ? ' on port ' + port : ''));
if (port) http.createServer((req, res) => res.end(greeting + '\\n')).listen(port, ready); else ready();
readline.createInterface({ input: process.stdin }).on('line', (line) => {
  if (line.trim() === 'stop') { console.log('Stopping...'); process.exit(0); }
  console.log('echo: ' + line);
});
process.on('SIGTERM', () => { console.log('SIGTERM received, bye'); process.exit(0); });
setInterval(() => {}, 1 << 30);
`;

const PYTHON_ECHO = `
import http.server, os, sys, threading
port = int(os.environ.get('SERVER_PORT') or 0)
greeting = os.environ.get('GREETING', 'hello')
if port:
    class H(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200); self.end_headers(); self.wfile.write((greeting + '\\n').encode())
        def log_message(self, *a): pass
    srv = http.server.ThreadingHTTPServer(('0.0.0.0', port), H)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
print('Server ready: ' + greeting + (' on port %d' % port if port else ''), flush=True)
for line in sys.stdin:
    line = line.rstrip('\\n')
    if line.strip() == 'stop':
        print('Stopping...', flush=True); sys.exit(0)
    print('echo: ' + line, flush=True)
`;

function writeFile(name: string, body: string): string {
  return `cat > ${name} <<'ENCEDEUS_EOF'\n${body.trim()}\nENCEDEUS_EOF\n`;
}

/** Templates every installation has; ids are fixed so re-seeding is idempotent. Read-only through the API. */
export const BUILT_IN_TEMPLATES: (CreateTemplate & { id: string })[] = [
  {
    id: '00000000-0000-4000-8000-000000000001',
    name: 'Node.js echo server',
    description: 'A small Node HTTP server that echoes console input; runs with the process driver on any machine with node.',
    driver: 'process',
    startup: 'exec node server.js',
    variables: [{ name: 'GREETING', default: 'hello', rules: 'required|string|max:64', description: 'What the HTTP endpoint answers' }],
    stop: { command: 'stop', signal: 'SIGTERM', timeout_s: 10 },
    ready_pattern: 'Server ready',
    install_script: writeFile('server.js', NODE_ECHO),
    limits: { memory_mb: 256, cpu_percent: 100, disk_mb: 512 },
    restart: { on_crash: false, max_attempts: 5, backoff_ms: 1000 },
  },
  {
    id: '00000000-0000-4000-8000-000000000002',
    name: 'Python echo server',
    description: 'A Python 3 HTTP server that echoes console input; runs with the process driver.',
    driver: 'process',
    startup: 'exec python3 -u server.py',
    variables: [{ name: 'GREETING', default: 'hello', rules: 'required|string|max:64', description: 'What the HTTP endpoint answers' }],
    stop: { command: 'stop', signal: 'SIGTERM', timeout_s: 10 },
    ready_pattern: 'Server ready',
    install_script: writeFile('server.py', PYTHON_ECHO),
    limits: { memory_mb: 256, cpu_percent: 100, disk_mb: 512 },
    restart: { on_crash: false, max_attempts: 5, backoff_ms: 1000 },
  },
  {
    id: '00000000-0000-4000-8000-000000000003',
    name: 'nginx',
    description: 'Static web server (docker driver, image nginx:alpine).',
    driver: 'docker',
    image: 'nginx:alpine',
    startup: "nginx -g 'daemon off;'",
    variables: [],
    stop: { signal: 'SIGQUIT', timeout_s: 10 },
    ready_pattern: 'start worker process',
    limits: { memory_mb: 128, cpu_percent: 50, disk_mb: 256 },
    restart: { on_crash: true, max_attempts: 5, backoff_ms: 1000 },
  },
  {
    id: '00000000-0000-4000-8000-000000000004',
    name: 'Minecraft (Java, itzg/minecraft-server)',
    description: 'Vanilla/Paper Minecraft server in docker; needs an engine and the image.',
    driver: 'docker',
    image: 'itzg/minecraft-server:latest',
    startup: '/start',
    variables: [
      { name: 'EULA', default: 'TRUE', rules: 'required|in:TRUE,true', description: 'You accept the Minecraft EULA' },
      { name: 'TYPE', default: 'PAPER', rules: 'required|in:VANILLA,PAPER,FABRIC,FORGE', description: 'Server type' },
      { name: 'VERSION', default: 'LATEST', rules: 'required|string|max:20', description: 'Minecraft version' },
      { name: 'MEMORY', default: '1G', rules: 'required|regex:/^[0-9]+[MG]$/', description: 'JVM heap' },
    ],
    stop: { command: 'stop', signal: 'SIGTERM', timeout_s: 30 },
    ready_pattern: 'Done \\(',
    limits: { memory_mb: 2048, cpu_percent: 200, disk_mb: 4096 },
    restart: { on_crash: true, max_attempts: 3, backoff_ms: 5000 },
  },
];
