#!/usr/bin/perl
# Drives mailbridge with Perl's Net::SMTP for the e2e tests.
#
# usage: netsmtp_client.pl HOST PORT
#
# Sends one message whose text has lines that Net::SMTP must dot-stuff
# (".leading", a lone ".", "..two") and a last line without a line end,
# which dataend ends with CRLF. Prints one line for the reply to the
# message, or to the first command refused: "reply CODE TEXT" (TEXT is the
# reply's last line without the code).
use strict;
use warnings;
use Net::SMTP;

my ($host, $port) = @ARGV;
die "usage: netsmtp_client.pl HOST PORT\n" unless defined $port;

my $smtp = Net::SMTP->new($host, Port => $port, Hello => 'perl.test', Timeout => 60)
    or die "connect $host:$port: $@\n";

sub done {
    my $text = ($smtp->message)[-1];
    $text = '' unless defined $text;
    $text =~ s/\s+\z//;
    print 'reply ', $smtp->code, ' ', $text, "\n";
    $smtp->quit;
    exit 0;
}

$smtp->mail('perl@example.com') or done();
$smtp->to('a@example.org') or done();
$smtp->to('b@example.net') or done();
$smtp->data or done();
$smtp->datasend("Subject: Net::SMTP\n\n");
$smtp->datasend(".leading\n.\n..two\n");
$smtp->datasend("last line without a newline");
$smtp->dataend;
done();
