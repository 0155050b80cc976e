#!/usr/bin/env bash
# Shell completions: `keel completion bash` is loaded into bash, `complete -p`
# shows it registered, and the completion function (driven as bash drives
# it, through COMP_WORDS/COMP_CWORD) offers commands, subcommands, a
# command's own options and the global ones, and files after an option that
# takes a value. zsh and fish scripts are checked for their shape (neither
# shell is installed in CI); `zsh -n` / `fish -n` where they are.
set -euo pipefail
source "$(dirname "$0")/lib.bash"
e2e_setup

step "keel completion bash registers _keel"
"$KEEL" completion bash >"$WORK/keel.bash"
bash -n "$WORK/keel.bash" || fail "the bash script does not parse"

# complete_words WORD...: what bash would offer for the last word.
complete_words() {
  bash -c 'source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _keel; printf "%s\n" "${COMPREPLY[@]}"' \
    _ "$WORK/keel.bash" "$@"
}
offers() {  # offers "WORDS" EXPECTED...
  local words=$1 list
  shift
  read -ra list <<<"$words"
  [[ $words == *" " ]] && list+=("")  # the cursor after a space: an empty word
  complete_words "${list[@]}" >"$WORK/offered"
  for want in "$@"; do
    grep -qxF -- "$want" "$WORK/offered" || { show "$WORK/offered"; fail "\`$words<TAB>\` does not offer $want"; }
  done
}
refuses() {  # refuses "WORDS" UNWANTED...
  local words=$1 list
  shift
  read -ra list <<<"$words"
  [[ $words == *" " ]] && list+=("")  # the cursor after a space: an empty word
  complete_words "${list[@]}" >"$WORK/offered"
  for bad in "$@"; do
    ! grep -qxF -- "$bad" "$WORK/offered" || { show "$WORK/offered"; fail "\`$words<TAB>\` offers $bad"; }
  done
}

bash -c 'source "$1"; complete -p keel' _ "$WORK/keel.bash" >"$WORK/complete-p"
assert_contains "$WORK/complete-p" "-F _keel keel"

step "commands and subcommands"
offers "keel " plan apply destroy validate init completion backup health deploy
offers "keel pl" plan
refuses "keel pl" apply
refuses "keel " __generate   # hidden: the build's, not the user's
offers "keel backup " run list prune key
offers "keel backup key " export
offers "keel agent " install upgrade status
offers "keel -f other.yaml ba" backup     # an option's value is skipped

step "a command's fixed first word (keel state's verbs), then no more"
offers "keel state " list show rm mv import rebind
offers "keel -f other.yaml state re" rebind
refuses "keel state list " list show

step "options: the command's own and the global ones"
offers "keel plan --" --detailed-exitcode --out --target --json --file --var
refuses "keel plan --" --auto-approve
offers "keel apply --a" --auto-approve
offers "keel init --" --list --force --dir

step "after an option that takes a value: files"
touch "$WORK/stack-file.yaml"
(cd "$WORK" && complete_words keel plan --out stack-f) >"$WORK/offered"
grep -qx "stack-file.yaml" "$WORK/offered" || { show "$WORK/offered"; fail "no file offered after --out"; }

step "the same from the compgen builtin"
bash -c 'source "$1"; compgen -W "$(_keel_subcommands "")" -- dri' _ "$WORK/keel.bash" >"$WORK/offered"
assert_contains "$WORK/offered" "drill"

step "zsh and fish scripts"
"$KEEL" completion zsh >"$WORK/_keel"
head -1 "$WORK/_keel" | grep -qx "#compdef keel" || fail "the zsh script does not start with #compdef keel"
assert_contains "$WORK/_keel" "'plan:show what apply would change'"
"$KEEL" completion fish >"$WORK/keel.fish"
assert_contains "$WORK/keel.fish" "complete -c keel -n '__keel_at '\\''backup'\\''' -a 'run'"
# zsh ties $path to $PATH: a local `path` would leave `keel exec ... -- CMD<TAB>` no commands.
! grep -qE '(local|typeset)[^#]* path=' "$WORK/_keel" || fail "the zsh script declares a variable named path"
if command -v zsh >/dev/null; then zsh -n "$WORK/_keel" || fail "the zsh script does not parse"; fi
if command -v fish >/dev/null; then
  fish -n "$WORK/keel.fish" || fail "the fish script does not parse"
  # fish's own completer, as at a prompt: `complete -C LINE`.
  fish_offers() {  # fish_offers LINE EXPECTED...
    local line=$1
    shift
    HOME="$WORK" fish --no-config -c 'source $argv[1]; complete -C $argv[2]' "$WORK/keel.fish" "$line" | cut -f1 >"$WORK/offered"
    for want in "$@"; do
      grep -qxF -- "$want" "$WORK/offered" || { show "$WORK/offered"; fail "fish: \`$line<TAB>\` does not offer $want"; }
    done
  }
  fish_offers "keel " plan backup init
  fish_offers "keel backup " run list prune key
  fish_offers "keel plan --de" --detailed-exitcode --destroy
  fish_offers "keel backup run --" --json --file
  fish_offers "keel state " list show rebind
  fish_offers "keel state -f keel.yaml " list show    # an option's value is not the verb
  fish_refuses() {  # fish_refuses LINE UNWANTED...
    local line=$1
    shift
    HOME="$WORK" fish --no-config -c 'source $argv[1]; complete -C $argv[2]' "$WORK/keel.fish" "$line" | cut -f1 >"$WORK/offered"
    for bad in "$@"; do
      ! grep -qxF -- "$bad" "$WORK/offered" || { show "$WORK/offered"; fail "fish: \`$line<TAB>\` offers $bad"; }
    done
  }
  touch "$WORK/a-file.txt"
  (cd "$WORK" && fish_refuses "keel state " a-file.txt)   # the verb, not files
  fish_refuses "keel state show state " list show          # a verb is given: no second one
fi

step "an unknown shell is refused"
expect_rc 1 keel completion tcsh
assert_contains "$WORK/last.out" "tcsh"
