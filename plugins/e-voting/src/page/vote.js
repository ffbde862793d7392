// The ballot page of Hutong's e-voting app.
//
// Everything secret stays on this device: the page loads the ballot maker
// (assets/evote.wasm, the hutong-evote crate built for browsers), has it
// check the board's head (two or more trustees, each key proved, the
// election key their sum), shows the options of that checked election,
// and encrypts and proves the choice for the voter's credential, showing
// its tracker. Then the voter either casts it (the module signs it with the
// credential, and only the signed, encrypted ballot is posted: the
// credential never leaves the page) or audits it (Benaloh's challenge): its
// randomness is shown for a check on another device, and it is discarded,
// never signed, so that nobody who sees the audit can cast it.
import { caller } from './evote.mjs';

(function () {
  const form = document.getElementById('ballot');
  if (!form) {
    return;
  }
  const texts = JSON.parse(document.getElementById('texts').textContent);
  const base = form.dataset.base;
  const pollUrl = base + 'polls/' + encodeURIComponent(form.dataset.poll);
  const $ = (id) => document.getElementById(id);
  let evote = null;
  let head = null;
  let made = null;

  function show(id, visible) {
    $(id).hidden = !visible;
  }

  function status(text) {
    $('status').textContent = text;
  }

  function fail(text) {
    const error = $('error');
    error.textContent = text;
    error.hidden = false;
  }

  function clearError() {
    $('error').hidden = true;
    $('error').textContent = '';
  }

  // One JSON request to the module, one JSON answer; a module that
  // failed answers as a refusal.
  function call(request) {
    if (!evote) {
      return { error: { code: 'request', message: 'the module stopped' } };
    }
    try {
      return evote(request);
    } catch (error) {
      // A module that trapped may be left in any state: use it no more.
      evote = null;
      setEditable(false);
      return { error: { code: 'request', message: String(error) } };
    }
  }

  // The message for a refusal of the module or of the server.
  function message(error) {
    return texts['err_' + error.code] || texts.err_other + error.message;
  }

  function seed() {
    const bytes = crypto.getRandomValues(new Uint8Array(32));
    return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
  }

  function renderOptions(election) {
    const single = election.min === 1 && election.max === 1;
    const options = $('options');
    options.textContent = '';
    election.option_names.forEach((name, index) => {
      const label = document.createElement('label');
      label.className = 'option';
      const input = document.createElement('input');
      input.type = single ? 'radio' : 'checkbox';
      input.name = 'option';
      input.value = String(index);
      const span = document.createElement('span');
      span.textContent = name;
      label.append(input, span);
      options.append(label);
    });
  }

  async function start() {
    try {
      const response = await fetch(base + 'assets/evote.wasm', { credentials: 'same-origin' });
      if (!response.ok || typeof WebAssembly !== 'object') {
        throw new Error('module');
      }
      const { instance } = await WebAssembly.instantiate(await response.arrayBuffer(), {});
      evote = caller(instance.exports);
    } catch (_) {
      status('');
      fail(texts.err_module);
      return;
    }
    let answer;
    try {
      const response = await fetch(pollUrl + '/board', { credentials: 'same-origin' });
      answer = await response.json();
      if (!response.ok) {
        status('');
        fail(message(answer.error || { code: 'head', message: '' }));
        return;
      }
    } catch (_) {
      status('');
      fail(texts.err_network);
      return;
    }
    head = answer;
    const checked = call({ op: 'election', head });
    if (checked.error) {
      status('');
      fail(message(checked.error));
      return;
    }
    renderOptions(checked.ok);
    $('choices').disabled = false;
    $('encrypt').disabled = false;
    status(texts.ready);
  }

  function chosen() {
    return Array.from(form.querySelectorAll('input[name=option]:checked'), (i) => Number(i.value));
  }

  function setEditable(editable) {
    $('choices').disabled = !editable;
    $('credential').readOnly = !editable;
    $('encrypt').disabled = !editable;
  }

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    clearError();
    const credential = $('credential').value.replace(/\s+/g, '');
    status(texts.encrypting);
    setEditable(false);
    // Let the status paint before the work.
    setTimeout(() => {
      const answer = call({ op: 'ballot', head, credential, chosen: chosen(), seed: seed() });
      if (answer.error) {
        status(texts.ready);
        setEditable(true);
        fail(message(answer.error));
        return;
      }
      made = answer.ok;
      $('tracker').textContent = made.tracker;
      status('');
      show('encrypted', true);
      $('cast').focus();
    }, 20);
  });

  $('audit').addEventListener('click', () => {
    if (made.posted) {
      return;
    }
    const audited = { tracker: made.tracker, ballot: made.ballot, opening: made.opening };
    made = null;
    const check = call({ op: 'audit', head, tracker: audited.tracker, ballot: audited.ballot, opening: audited.opening });
    $('audit-result').textContent = check.error
      ? message(check.error)
      : texts.audit_ok + (check.ok.names.length ? check.ok.names.join('、') : texts.audit_none);
    $('audit-data').value = JSON.stringify(audited, null, 2);
    show('encrypted', false);
    show('audited', true);
    $('again').focus();
  });

  $('again').addEventListener('click', () => {
    show('audited', false);
    $('audit-data').value = '';
    setEditable(true);
    status(texts.ready);
    $('encrypt').focus();
  });

  // Back to the form, the ballot thrown away, saying why.
  function refused(text) {
    made = null;
    $('tracker').textContent = '';
    $('cast').disabled = false;
    $('audit').disabled = false;
    show('encrypted', false);
    setEditable(true);
    status(texts.ready);
    fail(text);
  }

  $('cast').addEventListener('click', async () => {
    clearError();
    const credential = $('credential').value.replace(/\s+/g, '');
    const signed = call({ op: 'sign', head, credential, ballot: made.ballot, seed: seed() });
    if (signed.error) {
      refused(message(signed.error));
      return;
    }
    $('cast').disabled = true;
    // Once posted, this ballot may be on the board: it is never audited
    // (its opening would show the vote), only cast again or replaced.
    $('audit').disabled = true;
    made.posted = true;
    status(texts.casting);
    let response;
    let answer;
    try {
      response = await fetch(pollUrl + '/ballots', {
        method: 'POST',
        credentials: 'same-origin',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(signed.ok),
      });
      answer = await response.json();
    } catch (_) {
      $('cast').disabled = false;
      status('');
      fail(texts.err_network);
      return;
    }
    $('cast').disabled = false;
    if (!response.ok) {
      // Refused (not on the roll, closed, …): this ballot will not do.
      refused(message(answer.error || { code: 'other', message: String(response.status) }));
      return;
    }
    const cast = { tracker: made.tracker, ballot: signed.ok };
    made = null;
    $('credential').value = '';
    show('encrypted', false);
    status('');
    $('done-tracker').textContent = cast.tracker;
    $('done-note').textContent = texts.cast + (answer.replaced ? ' ' + texts.replaced : '');
    show('done', true);
    $('done').scrollIntoView();
    await checkBoard(cast);
  });

  // Find the ballot on the board and compare its tracker, computed here.
  async function checkBoard(cast) {
    const line = $('board-check');
    if (!head.ballots_published) {
      line.textContent = texts.board_later;
      return;
    }
    try {
      const response = await fetch(pollUrl + '/board/ballots/' + cast.ballot.credential, {
        credentials: 'same-origin',
      });
      if (response.status === 409) {
        // The poll closed meanwhile: its ballots are being counted.
        line.textContent = texts.board_recounting;
        line.className = '';
        return;
      }
      const answer = await response.json();
      const tracker = response.ok ? call({ op: 'tracker', ballot: answer.ballot }) : null;
      line.textContent = tracker && tracker.ok === cast.tracker ? texts.on_board : texts.not_on_board;
      line.className = tracker && tracker.ok === cast.tracker ? 'ok' : 'error';
    } catch (_) {
      line.textContent = texts.err_network;
    }
  }

  start();
})();
